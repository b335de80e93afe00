"""Photos and files: the gallery, uploads and serving."""
