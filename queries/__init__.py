"""The SQL files of ``queries/``, installed as the package ``pipeline._queries`` (read by ``pipeline.queries``)."""
