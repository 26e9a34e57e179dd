"""Server-rendered web console."""
