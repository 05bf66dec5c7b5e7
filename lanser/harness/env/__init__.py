"""The environment a task runs in: offline images, project layers, the image depot, the sealed sandbox, cache locks."""
