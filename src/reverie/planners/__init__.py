"""Components that use a model to choose actions or improve values."""
