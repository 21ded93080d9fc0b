import factory

from checklists import services
from checklists.models import ChecklistTemplate, Kind, RunItem, TemplateItem


class ChecklistTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ChecklistTemplate

    key = factory.Sequence(lambda n: f"template-{n}")
    name_ja = factory.Sequence(lambda n: f"手順 {n}")
    name_en = factory.Sequence(lambda n: f"Procedure {n}")
    kind = Kind.RELEASE


class TemplateItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TemplateItem

    template = factory.SubFactory(ChecklistTemplateFactory)
    position = factory.Sequence(int)
    text_ja = factory.Sequence(lambda n: f"項目 {n}")
    text_en = factory.Sequence(lambda n: f"Item {n}")
    required = True


def resolve_all_items(incident, actor) -> None:
    """Tick every open item of the incident's checklists (for tests that walk to `close`)."""
    for item in RunItem.objects.filter(run__incident=incident, status=RunItem.Status.OPEN):
        services.run_item_tick(item=item, actor=actor)
