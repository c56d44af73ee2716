# The vouchers move from payments to finance with their tables: only Django's idea of which app
# owns them changes (payments/migrations/0006 removes them from payments' state). No data is
# copied; the content types (and so the permissions granted on them) follow the models.

import django.db.models.deletion
from decimal import Decimal

from django.conf import settings
from django.db import migrations, models

MOVED = ("voucher", "voucherline", "vouchersequence")


def content_types_to(source, target):
    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        db = schema_editor.connection.alias
        for model in MOVED:
            if not ContentType.objects.using(db).filter(app_label=target, model=model).exists():
                ContentType.objects.using(db).filter(app_label=source, model=model).update(app_label=target)

    return move


class Migration(migrations.Migration):
    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("finance", "0002_reconciliation_kind_from_gateways"),
        ("payments", "0005_payout_needs_check"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="VoucherSequence",
                    fields=[
                        ("period", models.CharField(max_length=7, primary_key=True, serialize=False, verbose_name="month")),
                        ("last_number", models.PositiveIntegerField(default=0, verbose_name="last number")),
                    ],
                    options={
                        "verbose_name": "voucher sequence",
                        "verbose_name_plural": "voucher sequences",
                        "db_table": "payments_vouchersequence",
                    },
                ),
                migrations.CreateModel(
                    name="Voucher",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("period", models.CharField(max_length=7, verbose_name="month")),
                        ("number", models.PositiveIntegerField(verbose_name="number in the month")),
                        ("date", models.DateField(verbose_name="date")),
                        (
                            "kind",
                            models.CharField(
                                choices=[("refund", "Refund paid"), ("reversal", "Reversal")],
                                default="refund",
                                max_length=10,
                                verbose_name="kind",
                            ),
                        ),
                        ("summary", models.CharField(max_length=200, verbose_name="summary")),
                        ("amount", models.DecimalField(decimal_places=2, max_digits=12, verbose_name="amount (CNY)")),
                        ("created_at", models.DateTimeField(verbose_name="created at")),
                        (
                            "created_by",
                            models.ForeignKey(
                                blank=True,
                                help_text="Empty: written by the system when the gateway confirmed the refund.",
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                                verbose_name="created by",
                            ),
                        ),
                        (
                            "payout",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="vouchers",
                                to="payments.payout",
                                verbose_name="payout",
                            ),
                        ),
                        (
                            "reverses",
                            models.OneToOneField(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="reversed_by",
                                to="finance.voucher",
                                verbose_name="reverses",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "voucher",
                        "verbose_name_plural": "vouchers",
                        "db_table": "payments_voucher",
                        "ordering": ["-period", "-number"],
                        "permissions": [("reverse_voucher", "Can reverse vouchers")],
                    },
                ),
                migrations.CreateModel(
                    name="VoucherLine",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("position", models.PositiveSmallIntegerField(verbose_name="line")),
                        ("account_code", models.CharField(max_length=20, verbose_name="account code")),
                        ("account_name", models.CharField(max_length=60, verbose_name="account")),
                        (
                            "debit",
                            models.DecimalField(
                                decimal_places=2, default=Decimal("0.00"), max_digits=12, verbose_name="debit (CNY)"
                            ),
                        ),
                        (
                            "credit",
                            models.DecimalField(
                                decimal_places=2, default=Decimal("0.00"), max_digits=12, verbose_name="credit (CNY)"
                            ),
                        ),
                        ("memo", models.CharField(blank=True, max_length=200, verbose_name="memo")),
                        (
                            "voucher",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="lines",
                                to="finance.voucher",
                                verbose_name="voucher",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "voucher line",
                        "verbose_name_plural": "voucher lines",
                        "db_table": "payments_voucherline",
                        "ordering": ["voucher", "position"],
                    },
                ),
                migrations.AddConstraint(
                    model_name="voucher",
                    constraint=models.UniqueConstraint(fields=("period", "number"), name="voucher_number_unique_in_month"),
                ),
                migrations.AddConstraint(
                    model_name="voucher",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("kind", "refund")), fields=("payout",), name="one_refund_voucher_per_payout"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="voucher",
                    constraint=models.CheckConstraint(condition=models.Q(("number__gte", 1)), name="voucher_number_positive"),
                ),
                migrations.AddConstraint(
                    model_name="voucherline",
                    constraint=models.UniqueConstraint(fields=("voucher", "position"), name="voucher_line_position_unique"),
                ),
                migrations.AddConstraint(
                    model_name="voucherline",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("debit", 0), models.Q(("credit", 0), _negated=True)),
                            models.Q(("credit", 0), models.Q(("debit", 0), _negated=True)),
                            _connector="OR",
                        ),
                        name="voucher_line_one_side",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="voucherline",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("debit__gte", 0), ("credit__gte", 0)), name="voucher_line_not_negative"
                    ),
                ),
            ],
        ),
        migrations.RunPython(content_types_to("payments", "finance"), content_types_to("finance", "payments")),
    ]
