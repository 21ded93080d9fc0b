"""An incident's vendors: the active ones listing its free-text service, matched by name."""

from tests.factories import VendorFactory
from vendors.selectors import incident_vendor_contacts, vendors_for_service


def test_the_service_is_matched_ignoring_case_and_extra_spaces(declare):
    mail = VendorFactory(name="SendMail", services=["Mail delivery"])
    VendorFactory(name="Retired", services=["mail delivery"], is_active=False)
    mail.full_clean()
    mail.save()

    assert vendors_for_service("  MAIL   Delivery ") == [mail]
    assert vendors_for_service("mail") == []


def test_an_incident_without_a_service_has_no_vendor(declare):
    VendorFactory(services=[""])

    assert incident_vendor_contacts(declare(title="原因不明", service="")) == []


def test_contacts_say_how_to_reach_each_vendor_and_which_tickets_are_open(declare):
    VendorFactory(name="Mailer", services=["mail"])

    (contact,) = incident_vendor_contacts(declare(title="メール不達", service="mail"))

    assert contact["name"] == "Mailer"
    assert contact["contact"] == "サポート窓口 https://vendor.example/support"
    assert contact["open_tickets"] == []
