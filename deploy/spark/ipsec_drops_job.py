"""The ipsec-drops command line as a spark-submit application: the arguments are ipsec-drops's own.

    spark-submit --master spark://head:7077 deploy/spark/ipsec_drops_job.py \
        --config /srv/ipsec-drops/ipsec-drops.toml flows --engine spark --warehouse /mnt/warehouse --format csv

With --engine spark (and no --spark-master) the commands take spark-submit's session.
"""

from pipeline.cli import main

main()
