"""Neo4j graph databases: checked daily (databases and indexes online, the oldest open transaction) and
maintained weekly."""

from include.kinds.base import KindSpec

SPEC = KindSpec(
    name="neo4j",
    thresholds={"long_transaction_warning_s": 300, "long_transaction_critical_s": 1800},
    check="include.checks.neo4j",
    weekly="include.weekly.neo4j",
    update_health=True,
)
