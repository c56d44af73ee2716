#!/usr/bin/env bash
# `make run`: the gateway simulator in the background, the demo data, then the web app.
# Refunds approved in the demo are paid back through the simulator (WeChat Pay and Alipay over
# HTTPS with real signatures), whose callbacks reach this web app: no internet needed.
set -euo pipefail
SCRIPT_NAME=run-dev
source "$(dirname "$0")/lib.sh"

# The demo runs with DEBUG on (settings default to off): development secrets, the simulator's
# keys and the demo logins, which seed_demo refuses to make otherwise.
export DJANGO_DEBUG=1
PY=${PY:-.venv/bin/python}
PORT=${PORT:-8000}
SIM_PORT=${SIM_PORT:-8765}
export PAYMENTS_NOTIFY_BASE_URL=${PAYMENTS_NOTIFY_BASE_URL:-http://127.0.0.1:${PORT}}
export NOTIFICATIONS_SITE_URL=${NOTIFICATIONS_SITE_URL:-http://127.0.0.1:${PORT}}
export GATEWAY_SIM_URL=https://127.0.0.1:${SIM_PORT}/
mkdir -p var
SIM_LOG=var/gateway-sim.log

"$PY" manage.py run_gateway_sim --port "$SIM_PORT" >"$SIM_LOG" 2>&1 &
sim_pid=$!
trap 'kill "$sim_pid" 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 1 100); do
    grep -q "listening on" "$SIM_LOG" 2>/dev/null && break
    kill -0 "$sim_pid" 2>/dev/null || die "the gateway simulator did not start (port $SIM_PORT taken? see $SIM_LOG): $(tail -3 "$SIM_LOG")"
    sleep 0.2
done
grep -q "listening on" "$SIM_LOG" || die "the gateway simulator did not start within 20 s; see $SIM_LOG"
say "gateway simulator on https://127.0.0.1:${SIM_PORT}/ (log: $SIM_LOG)"

"$PY" manage.py seed_demo || die "'manage.py seed_demo' failed; the server was not started."
# No beat runs here: the ticket clocks and the homeroom teachers' service tasks are looked at
# every 5 minutes by this loop instead, so a ticket left alone escalates and a task falls due as
# they would in production.
(while sleep 300; do
    "$PY" manage.py escalate_tickets >>var/escalations.log 2>&1 || true
    "$PY" manage.py plan_service_tasks >>var/service-tasks.log 2>&1 || true
    "$PY" manage.py settle_exchanges >>var/exchanges.log 2>&1 || true
done) &
esc_pid=$!
trap 'kill "$sim_pid" "$esc_pid" 2>/dev/null || true' EXIT INT TERM
echo
echo "================================================================"
echo "  schoolops is starting on   http://127.0.0.1:${PORT}/"
echo "  log in at                  http://127.0.0.1:${PORT}/login/"
echo "  refunds are paid through   the gateway simulator (${SIM_LOG})"
echo "  (Ctrl-C stops both)"
echo "================================================================"
echo
"$PY" manage.py runserver "127.0.0.1:${PORT}"
