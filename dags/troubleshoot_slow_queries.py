"""Troubleshooting: slow queries (the seed's 3.3), runnable alone or from an incident.

``find_slow`` lists statements running longer than ``min_seconds`` on the chosen PostgreSQL or
MySQL/MariaDB target (normalised: no literals), with ``pg_stat_statements`` when installed, or MySQL's locked
tables, slow log (when on, as a table) and zero-cardinality indexes of ``schemas``. ``approve_cancel`` asks a
person, naming the slowest statement and its session; ``cancel_query`` cancels it only when approved and only
if the same session still runs the same statement (``pg_cancel_backend`` / ``KILL QUERY``). Refused: nothing is touched.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from include.dag_defaults import fail_without_retry, refuse_unknown_conf
from include.incidents.troubleshooting import Answer, approval, record_on_incident, troubleshooting_dag_args


def _connect(target_name: str):
    """The one place this DAG opens a database connection (writable: cancelling needs it)."""
    from include.checks import mysql, postgres
    from include.inventory import load_inventory
    from include.targets import endpoint_for

    target = load_inventory().target(target_name)
    endpoint = endpoint_for(target)
    if target.kind == "postgres":
        return target.kind, postgres.connect(endpoint, 10, read_only=False, application_name="aegis-troubleshoot")
    if target.kind == "mysql":
        return target.kind, mysql.connect(endpoint, 10)
    raise ValueError(f"target {target_name!r} is {target.kind}; slow queries are PostgreSQL or MySQL only")


@dag(
    **troubleshooting_dag_args(
        __doc__,
        target=Param("postgres", type="string", title="Target (PostgreSQL or MySQL)"),
        min_seconds=Param(10, type="number", minimum=0, title="Slower than (seconds)"),
        schemas=Param([], type="array", title="MySQL schemas to check for zero-cardinality indexes"),
    )
)
def troubleshoot_slow_queries():
    @task
    def find_slow() -> dict[str, Any] | None:
        """List the slow statements; the slowest goes to the approval."""
        from include.incidents import slow_queries as sq

        refuse_unknown_conf()
        params = get_current_context()["params"]
        with fail_without_retry(KeyError, ValueError):  # not in the inventory, or not a SQL kind: no retry
            kind, conn = _connect(params["target"])
        with conn:
            found = (sq.find_postgres if kind == "postgres" else sq.find_mysql)(conn, params["min_seconds"])
            if kind == "postgres":
                print(f"pg_stat_statements (most total time): {sq.postgres_top_statements(conn) or 'not installed'}")
            else:
                print(f"locked tables: {sq.mysql_locked_tables(conn)}")
                print(f"slow log: {sq.mysql_slow_log(conn) or 'off, or not written to a table'}")
                for schema in params["schemas"]:
                    print(f"zero-cardinality indexes in {schema}: {sq.mysql_zero_cardinality_indexes(conn, schema)}")
        for q in found:
            print(f"{q.seconds:8.1f} s  pid/id {q.pid}  {q.user}@{q.database}  {q.query}")
        if not found:
            raise AirflowSkipException("no statement runs longer than the threshold")
        return max(found, key=lambda q: q.seconds).to_dict()

    slowest = find_slow()
    approve = approval(
        "approve_cancel",
        "Cancel this statement?",
        "Session {{ ti.xcom_pull(task_ids='find_slow')['pid'] }} "
        "(started {{ ti.xcom_pull(task_ids='find_slow')['session'] }}), running "
        "{{ ti.xcom_pull(task_ids='find_slow')['seconds'] | round(1) }} s:\n\n"
        "`{{ ti.xcom_pull(task_ids='find_slow')['query'] }}`",
        "Approve to cancel exactly this statement in exactly this session.",
    )

    @task
    def cancel_query(slow: dict[str, Any]) -> dict[str, Any]:
        """Cancel it if approved and still the same session; say why not otherwise."""
        from include.incidents.slow_queries import SlowQuery, cancel

        context = get_current_context()
        answer = Answer.of(context["ti"].xcom_pull(task_ids="approve_cancel"))
        kind, conn = _connect(context["params"]["target"])
        with conn:
            outcome = cancel(conn, SlowQuery(**slow), answer.option)
        print(outcome)
        verb = "cancelled" if outcome["cancelled"] else "did not cancel"
        record_on_incident(
            context["params"],
            f"{verb} {slow['kind']} session {slow['pid']}: {slow['query']} ({outcome['why']})",
            answer,
        )
        return outcome

    slowest >> approve >> cancel_query(slowest)


troubleshoot_slow_queries()
