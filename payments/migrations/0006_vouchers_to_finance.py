# The vouchers move to finance with their tables (finance/migrations/0003 takes them into its
# state): here they only leave payments' state; the tables stay as they are.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0005_payout_needs_check"),
        ("finance", "0003_vouchers_from_payments"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="VoucherLine"),
                migrations.DeleteModel(name="Voucher"),
                migrations.DeleteModel(name="VoucherSequence"),
            ],
        ),
    ]
