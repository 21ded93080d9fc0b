"""外部ベンダー連絡先: the runbook's vendors, seeded by the defaults loader, idempotently."""

import io

from django.core.management import call_command
from django.utils import translation

from vendors.defaults import load_vendor_defaults
from vendors.models import Vendor


def test_the_runbook_vendors_are_seeded_with_how_to_reach_them():
    vendors = {v.key: v for v in Vendor.objects.all()}
    assert set(vendors) >= {"vercel", "supabase", "cdn"}
    with translation.override("ja"):
        assert vendors["vercel"].support_channel == "サポートチケット経由"
        assert vendors["supabase"].support_channel == "ダッシュボード内サポート"
        assert vendors["cdn"].support_channel == "各種プロバイダー窓口"
    with translation.override("en"):
        assert vendors["vercel"].support_channel == "Support ticket"
    assert vendors["supabase"].services == ["backup", "database"]


def test_loading_again_creates_nothing_and_keeps_a_managers_edits():
    Vendor.objects.filter(key="vercel").update(plan="Pro", services=["web"])
    before = Vendor.objects.count()

    out = io.StringIO()
    call_command("load_runbook_defaults", stdout=out)

    assert "vendors: 0 vendors created" in out.getvalue()
    assert Vendor.objects.count() == before
    vercel = Vendor.objects.get(key="vercel")
    assert (vercel.plan, vercel.services) == ("Pro", ["web"])


def test_a_deleted_runbook_vendor_comes_back_once():
    Vendor.objects.filter(key="cdn").delete()

    assert load_vendor_defaults() == {"vendors": 1}
    assert load_vendor_defaults() == {"vendors": 0}
    assert Vendor.objects.filter(key="cdn").count() == 1
