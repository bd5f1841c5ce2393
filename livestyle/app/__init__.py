"""What the command line calls: run (files), live (camera), bench, styles (gallery), models."""
