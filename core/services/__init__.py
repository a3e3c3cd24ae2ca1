"""Use cases, one module per family. Each takes a UnitOfWork and plain inputs."""
