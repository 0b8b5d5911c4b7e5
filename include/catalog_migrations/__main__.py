"""``python -m include.catalog_migrations revision "message"``: a new, empty revision file in ``versions/``;
``python -m include.catalog_migrations upgrade <catalog URL>``: bring a catalog to the newest revision."""

from __future__ import annotations

import sys

from alembic import command

from include.catalog import alembic_config, upgrade


def main(argv: list[str]) -> None:
    if len(argv) == 2 and argv[0] == "revision":
        command.revision(alembic_config(), message=argv[1])
    elif len(argv) == 2 and argv[0] == "upgrade":
        import sqlalchemy as sa

        upgrade(sa.create_engine(argv[1]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
