"""Hardware and files at the ends of the data path: sources (files, cameras), sinks (video and
image files), the virtual camera and the preview window. Nothing here knows about the stages."""
