"""The frame loop: threads and bounded queues (pipeline), the per-frame processor, the style
worker, rate control, statistics, and the live processor and controller."""
