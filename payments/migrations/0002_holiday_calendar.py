"""The 2026 public holidays and make-up working days (国务院办公厅, 2026 arrangement), and the
statutory days of 2027 whose make-up arrangement was not yet published. Finance keeps the table
up to date in the admin."""

import datetime

from django.db import migrations

HOLIDAYS = {
    "元旦": ["2026-01-01", "2026-01-02", "2026-01-03", "2027-01-01"],
    "春节": [f"2026-02-{d:02d}" for d in range(15, 24)] + ["2027-02-05", "2027-02-06", "2027-02-07", "2027-02-08"],
    "清明节": ["2026-04-04", "2026-04-05", "2026-04-06", "2027-04-05"],
    "劳动节": [f"2026-05-{d:02d}" for d in range(1, 6)] + ["2027-05-01", "2027-05-02"],
    "端午节": ["2026-06-19", "2026-06-20", "2026-06-21", "2027-06-09"],
    "中秋节": ["2026-09-25", "2026-09-26", "2026-09-27", "2027-09-15"],
    "国庆节": [f"2026-10-{d:02d}" for d in range(1, 8)] + ["2027-10-01", "2027-10-02", "2027-10-03"],
}
MAKE_UP_WORKDAYS = {
    "元旦调休上班": ["2026-01-04"],
    "春节调休上班": ["2026-02-14", "2026-02-28"],
    "劳动节调休上班": ["2026-05-09"],
    "国庆节调休上班": ["2026-09-20", "2026-10-10"],
}


def seed(apps, schema_editor):
    CalendarDay = apps.get_model("payments", "CalendarDay")
    rows = [
        CalendarDay(date=datetime.date.fromisoformat(day), is_workday=False, name=name)
        for name, days in HOLIDAYS.items()
        for day in days
    ] + [
        CalendarDay(date=datetime.date.fromisoformat(day), is_workday=True, name=name)
        for name, days in MAKE_UP_WORKDAYS.items()
        for day in days
    ]
    CalendarDay.objects.bulk_create(rows, ignore_conflicts=True)


def unseed(apps, schema_editor):
    apps.get_model("payments", "CalendarDay").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_payouts")]

    operations = [migrations.RunPython(seed, unseed)]
