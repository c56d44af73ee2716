"""Seed one default refund policy per course type, after seed 001's table.

| type                          | window                        | fee         | channels                 |
| trial                         | any time before the start     | 0%          | inbox + email            |
| recorded / live / one_on_one  | within 7 days of the start    | 10%         | inbox + email + sms      |
| premium                       | by contract                   | by contract | inbox + email + call task|

Regular courses: a full refund (less the fee) within days 1..7 of the course start (any time
before it too) while progress is at most 20%; above that, the value of the lessons not yet used,
less the fee; nothing from day 8. Special rules for illness, relocation abroad and school-side
quality problems refund the unused value without the time limit. Policy data (names, evidence)
is written in Chinese, the school's working language; operations edit it in the admin.

An initial history row is written for every seeded object, so the policy history starts at v1.
"""

from decimal import Decimal

from django.db import migrations
from django.utils import timezone

SEEDED_REASON = "Seeded default policy (migration refunds.0002)"

REGULAR_RULES = [
    {
        "reason": "illness",
        "percent": Decimal("100.00"),
        "waive_handling_fee": True,
        "evidence": "二级及以上医院出具的诊断证明或孕检证明",
    },
    {
        "reason": "relocation",
        "percent": Decimal("100.00"),
        "waive_handling_fee": False,
        "evidence": "出国签证、工作调动函或海外录取通知书等证明材料",
    },
    {
        "reason": "quality",
        "percent": Decimal("100.00"),
        "waive_handling_fee": True,
        "evidence": "问题截图或录屏,并经教学质检确认为校方原因",
    },
]

POLICIES = [
    {
        "course_type": "trial",
        "name": "体验课默认退款规则",
        "description": "开课前随时可退,全额退款,不收手续费。",
        "cooling_off_days": 0,
        "cooling_off_anchor": "course_start",
        "cooling_off_progress_ceiling": Decimal("100.00"),
        "tier_anchor": "course_start",
        "tiers": [(1, None, Decimal("0.00"))],
        "consumption_basis": "per_lesson",
        "handling_fee_percent": Decimal("0.00"),
        "notify_channels": ["inbox", "email"],
        "special_rules": [REGULAR_RULES[2]],
    },
    *[
        {
            "course_type": course_type,
            "name": name,
            "description": "开课后7天内可申请退款,收取10%手续费;学习进度不超过20%时按全额计算,"
            "否则按未使用课时计算;开课第8天起不再退款(特殊情形除外)。",
            "cooling_off_days": 7,
            "cooling_off_anchor": "course_start",
            "cooling_off_progress_ceiling": Decimal("20.00"),
            "tier_anchor": "course_start",
            "tiers": [(1, 7, Decimal("100.00")), (8, None, Decimal("0.00"))],
            "consumption_basis": basis,
            "count_replays": course_type == "live",
            "handling_fee_percent": Decimal("10.00"),
            "notify_channels": ["inbox", "email", "sms"],
            "special_rules": REGULAR_RULES,
        }
        for course_type, name, basis in [
            ("recorded", "录播正价课默认退款规则", "watched"),
            ("live", "直播正价课默认退款规则", "live"),
            ("one_on_one", "一对一正价课默认退款规则", "hours"),
        ]
    ],
    {
        "course_type": "premium",
        "name": "高端定制课默认退款规则",
        "description": "按合同约定退款,金额由审批人根据合同确定,客户经理电话确认。",
        "mode": "contract",
        "notify_channels": ["inbox", "email", "call_task"],
    },
]


def _history(apps, model_name, obj, now):
    historical = apps.get_model("refunds", f"Historical{model_name}")
    model = apps.get_model("refunds", model_name)
    values = {field.attname: getattr(obj, field.attname) for field in model._meta.concrete_fields}
    historical.objects.create(
        **values, history_date=now, history_type="+", history_change_reason=SEEDED_REASON, history_user=None
    )


def seed(apps, schema_editor):
    policy_model = apps.get_model("refunds", "RefundPolicy")
    tier_model = apps.get_model("refunds", "RefundTier")
    rule_model = apps.get_model("refunds", "RefundSpecialRule")
    now = timezone.now()
    for spec in POLICIES:
        spec = dict(spec)
        tiers = spec.pop("tiers", [])
        rules = spec.pop("special_rules", [])
        if policy_model.objects.filter(is_active=True, course__isnull=True, course_type=spec["course_type"]).exists():
            continue
        policy = policy_model.objects.create(**spec)
        _history(apps, "RefundPolicy", policy, now)
        for from_day, to_day, percent in tiers:
            tier = tier_model.objects.create(policy=policy, from_day=from_day, to_day=to_day, percent=percent)
            _history(apps, "RefundTier", tier, now)
        for rule_spec in rules:
            rule = rule_model.objects.create(policy=policy, **rule_spec)
            _history(apps, "RefundSpecialRule", rule, now)


def unseed(apps, schema_editor):
    policy_model = apps.get_model("refunds", "RefundPolicy")
    names = [spec["name"] for spec in POLICIES]
    seeded = policy_model.objects.filter(course__isnull=True, name__in=names, version=1, quote_snapshots__isnull=True)
    ids = list(seeded.values_list("pk", flat=True))
    seeded.delete()
    for model_name, field in [("RefundPolicy", "id"), ("RefundTier", "policy_id"), ("RefundSpecialRule", "policy_id")]:
        historical = apps.get_model("refunds", f"Historical{model_name}")
        historical.objects.filter(**{f"{field}__in": ids}, history_change_reason=SEEDED_REASON).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("refunds", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(seed, unseed),
    ]
