"""One module per framework, each implementing the benchmark scenarios the way its docs show."""
