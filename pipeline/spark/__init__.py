"""Apache Spark as a second engine over the same warehouse (issue 17): the flows view as Spark SQL,
and ingest as a Spark job that spreads the files over the executors.

Nothing here is imported by the normal commands: ``ipsec-drops flows --engine spark`` and
``ipsec-drops ingest --engine spark`` import it (and PySpark) on demand.

* :mod:`pipeline.spark.sql`: the SQL of ``queries/`` for Spark (sqlglot transpiles DuckDB SQL;
  a line ending in ``-- @spark: TEXT`` is replaced by TEXT first);
* :mod:`pipeline.spark.session`: the SparkSession (``local[2]`` or a master URL) with the settings
  the queries need (UTC, ANSI off for decimal arithmetic);
* :mod:`pipeline.spark.correlate`: :func:`flows`, the same rows as :func:`pipeline.correlate.flows`;
* :mod:`pipeline.spark.ingest`: :func:`ingest`, files read on the executors by the project's own
  readers, de-duplicated against ``_keys/`` by an anti-join, committed by the driver.
"""
