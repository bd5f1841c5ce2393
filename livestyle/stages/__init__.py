"""The pipeline's stages, one module each, in data-path order: segment (person segmentation
mask), matte (alpha matte refinement), deeplab (class masks), plate (clean plate), stylize
(Magenta restyling), composite; plus styles, the style-vector store. Stages know nothing of
threads or of each other's callers."""
