"""Students, staff and the bare baseline against one gunicorn (run by ``loadtest/run.py``).

- ``StudentUser``: logs in at /login/ with her own phone number, then browses her personal center
  (home, an order, its quote, a request, the inbox, help) and now and then applies for a refund
  on an order she can still refund: the apply page with the reason's quote, then the real form
  posted with its CSRF token, then the confirmation page.
- ``StaffUser``: logs in at /admin/login/ with her own username, then works her queue: the
  approval queue, a request's decision page from it, the request list.
- ``BareUser``: anonymous, ``/_bare/`` (a static template): the baseline.

The cast (``LOADTEST_CAST``) comes from ``loadtest/prepare.py``. Every request is kept (name,
start, milliseconds, error) and written to ``LOADTEST_SAMPLES`` when the run ends; the run stops
by itself after ``--run-time`` or ``LOADTEST_MAX_REQUESTS`` requests, whichever comes first.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time

from locust import HttpUser, between, events, task
from locust.exception import StopUser

CAST = json.loads(open(os.environ["LOADTEST_CAST"], encoding="utf-8").read())  # noqa: SIM115
MAX_REQUESTS = int(os.environ.get("LOADTEST_MAX_REQUESTS", "50000"))
THINK = (float(os.environ.get("LOADTEST_THINK_MIN", "10")), float(os.environ.get("LOADTEST_THINK_MAX", "30")))
APPLIES_PER_STUDENT = 2  # the product allows 5 submissions an hour
CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
REQUEST_LINK = re.compile(r'href="(/admin/refunds/refundrequest/\d+/change/)[^"]*"')
APPLY_FORM = 'class="apply-form"'

_students = itertools.count()
_staff = itertools.count()
SAMPLES: list[tuple[str, float, float, str]] = []
STATE = {"logged_in": 0, "measure_from": None}


@events.request.add_listener
def _kept(request_type, name, response_time, response_length, exception=None, start_time=None, **kwargs):
    SAMPLES.append((name, start_time or time.time(), response_time, "" if exception is None else str(exception)[:200]))
    if len(SAMPLES) >= MAX_REQUESTS:
        runner = kwargs.get("context", {}).get("runner") or _ENV.get("runner")
        if runner is not None and runner.state not in ("stopping", "stopped"):
            runner.quit()


_ENV: dict = {}


@events.init.add_listener
def _init(environment, **kwargs):
    _ENV["runner"] = environment.runner


@events.quitting.add_listener
def _written(environment, **kwargs):
    path = os.environ.get("LOADTEST_SAMPLES")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump({"measure_from": STATE["measure_from"], "samples": SAMPLES}, out)


def _logged_in() -> None:
    """Count a log-in; once every student and member of staff is in, the measured part starts."""
    STATE["logged_in"] += 1
    if STATE["logged_in"] == len(CAST["students"]) + len(CAST["staff"]):
        STATE["measure_from"] = time.time()


def _csrf(html: str) -> str:
    found = CSRF_FIELD.search(html)
    return found.group(1) if found else ""


def _log_in(user: HttpUser, path: str, username: str, *, who: str) -> None:
    """Log ``user`` in through the login form at ``path`` (with its CSRF token); a refusal stops it."""
    page = user.client.get(path, name=f"login page ({who})")
    with user.client.post(
        path,
        data={"csrfmiddlewaretoken": _csrf(page.text), "username": username, "password": CAST["password"]},
        headers={"Referer": f"{user.host}{path.split('?')[0]}"},
        name=f"log in ({who})",
        allow_redirects=False,
        catch_response=True,
    ) as response:
        if response.status_code != 302:
            response.failure(f"log-in refused: {response.status_code}")
            raise StopUser()
    _logged_in()


class StudentUser(HttpUser):
    fixed_count = len(CAST["students"])
    wait_time = between(*THINK)

    def on_start(self) -> None:
        part = CAST["students"][next(_students) % len(CAST["students"])]
        self.orders = part["orders"]
        self.refundable = list(part["refundable"])
        self.requests = list(part["requests"])
        self.applied = 0
        _log_in(self, "/login/", part["login"], who="student")

    @task(4)
    def home(self) -> None:
        self.client.get("/", name="student: home")

    @task(3)
    def order(self) -> None:
        self.client.get(f"/orders/{random.choice(self.orders)}/", name="student: order page")

    @task(2)
    def quote(self) -> None:
        self.client.get(f"/orders/{random.choice(self.orders)}/estimate/", name="student: quote")

    @task(2)
    def request_page(self) -> None:
        if self.requests:
            self.client.get(f"/refunds/{random.choice(self.requests)}/", name="student: request page")

    @task(2)
    def inbox(self) -> None:
        self.client.get("/inbox/", name="student: inbox")

    @task(1)
    def help(self) -> None:
        self.client.get("/help/", name="student: help")

    @task(1)
    def apply(self) -> None:
        if not self.refundable or self.applied >= APPLIES_PER_STUDENT:
            return
        order_no = self.refundable.pop()
        url = f"/orders/{order_no}/refund/"
        page = self.client.get(f"{url}?reason=time_conflict", name="student: apply page with quote")
        if page.status_code != 200 or APPLY_FORM not in page.text:
            return  # nothing to refund for this reason on this order: the page says so, no form
        fields = {
            "csrfmiddlewaretoken": _csrf(page.text),
            "reason": "time_conflict",
            "details": "工作调动，周末没有时间上课了。（压测）",
            "confirm": "on",
        }
        with self.client.post(
            url,
            files={name: (None, value) for name, value in fields.items()},
            headers={"Referer": f"{self.host}{url}"},
            name="student: apply (submit)",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            location = response.headers.get("Location", "")
            if response.status_code != 302 or "/submitted/" not in location:
                response.failure(f"not submitted: {response.status_code} {location}")
                return
        self.applied += 1
        self.requests.append(location.rstrip("/").split("/")[-2])
        self.client.get(location, name="student: submitted page")


class StaffUser(HttpUser):
    fixed_count = len(CAST["staff"])
    wait_time = between(*THINK)

    def on_start(self) -> None:
        username = CAST["staff"][next(_staff) % len(CAST["staff"])]
        self.decision_links: list[str] = []
        _log_in(self, "/admin/login/?next=/admin/", username, who="staff")

    @task(3)
    def queue(self) -> None:
        page = self.client.get("/admin/refunds/approvalqueueitem/", name="staff: approval queue")
        links = REQUEST_LINK.findall(page.text)
        if links:
            self.decision_links = links

    @task(3)
    def decision_page(self) -> None:
        if self.decision_links:
            self.client.get(random.choice(self.decision_links), name="staff: request decision page")

    @task(2)
    def request_list(self) -> None:
        self.client.get("/admin/refunds/refundrequest/", name="staff: request list")


class BareUser(HttpUser):
    fixed_count = int(os.environ.get("LOADTEST_BARE_USERS", "10"))
    wait_time = between(0.5, 1.5)

    @task
    def bare(self) -> None:
        self.client.get("/_bare/", name="bare view (baseline)")
