"""The SparkSession the Spark engine runs on: a given one, or ``local[2]`` / a master URL."""

from __future__ import annotations

import os
import sys
from typing import Any

#: What the queries need, on every session (also one spark-submit made): UTC instants, and non-ANSI
#: arithmetic like DuckDB's (the DECIMAL(38,0) rank of the winning filter).
REQUIRED: dict[str, str] = {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false"}
#: Settings a session this module starts gets (few shuffle partitions; a local one: no UI).
DEFAULTS: dict[str, str] = {"spark.sql.shuffle.partitions": "8"}
LOCAL_DEFAULTS: dict[str, str] = {"spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                                  "spark.sql.shuffle.partitions": "4"}


class SparkUnavailable(LookupError):
    """PySpark is not installed, or no Java runtime was found (the command line: exit 2, with the fix)."""


def spark_session(master: str | None = None, conf: dict[str, str] | None = None, *, app: str = "ipsec-drops") -> Any:
    """The active SparkSession if there is one (``spark-submit`` made it), else a new one on ``master``.

    ``master`` defaults to ``$SPARK_MASTER`` or ``local[2]``; under ``spark-submit`` (no master given) the
    session is spark-submit's, with its config.  :data:`REQUIRED` is set on every session, ``conf`` on a new one.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailable("the Spark engine needs PySpark: pip install 'ipsec-drops[spark]' "
                               "(and a Java 17 runtime)") from exc
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        for key, value in REQUIRED.items():
            active.conf.set(key, value)
        return active
    if not _java_found():
        raise SparkUnavailable("the Spark engine needs a Java 17 runtime (java on PATH or JAVA_HOME): "
                               "e.g. apt-get install openjdk-17-jre-headless")
    builder = SparkSession.builder.appName(app)
    settings = dict(REQUIRED)
    if master is None and os.environ.get("PYSPARK_GATEWAY_PORT"):
        pass  # under spark-submit: its master and its config (--conf, --properties-file) decide the rest
    else:
        master = master or os.environ.get("SPARK_MASTER") or "local[2]"
        builder = builder.master(master)
        settings.update(DEFAULTS)
        if master.startswith("local"):
            settings.update(LOCAL_DEFAULTS)
            if not os.environ.get("PYSPARK_PYTHON"):  # local workers run this interpreter (with pyarrow, pipeline)
                os.environ["PYSPARK_PYTHON"] = sys.executable
    settings.update(conf or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _java_found() -> bool:
    import shutil

    home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (home and os.path.exists(os.path.join(home, "bin", "java"))))
