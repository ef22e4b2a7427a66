# Named tasks; each is a thin wrapper over deploy/stack.sh or a tool in the venv.
.PHONY: up down status test lint bench bench-admin migrate

up:
	./deploy/stack.sh up
down:
	./deploy/stack.sh down
status:
	./deploy/stack.sh status
test:
	./deploy/stack.sh test
lint:
	.venv/bin/ruff check api radius tests bench migrations
	.venv/bin/ruff format --check api radius tests bench migrations
	.venv/bin/mypy api radius
bench:
	./deploy/stack.sh up bench
	.venv/bin/python bench/radius_auth.py
	.venv/bin/python bench/radius_guess.py
	.venv/bin/python bench/radius_acct.py
	.venv/bin/python bench/usage_warnings.py
	.venv/bin/python bench/payment_latency.py
	.venv/bin/python bench/coa_fanout.py
	.venv/bin/python bench/sheet_load.py
	.venv/bin/python bench/staff_login.py
bench-admin:
	./deploy/stack.sh up bench
	.venv/bin/python bench/admin_pages.py
migrate:
	. .run/dev/env && .venv/bin/alembic upgrade head
