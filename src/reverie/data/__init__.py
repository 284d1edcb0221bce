"""Experience storage: replay buffers of real transitions."""
