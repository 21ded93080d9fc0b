"""A run keeps the items as they were when it was created: editing a template is not history."""

from checklists import services
from tests.checklists.factories import ChecklistTemplateFactory, TemplateItemFactory


def test_editing_a_template_never_rewrites_an_existing_run():
    template = ChecklistTemplateFactory(name_ja="通常デプロイ")
    TemplateItemFactory(
        template=template, position=1, text_ja="事前チェック", command="npm run build"
    )
    TemplateItemFactory(template=template, position=2, text_ja="事後確認")
    run = services.checklist_run_create(template=template)

    template.name_ja = "新しいデプロイ"
    template.save()
    template.items.filter(position=1).update(text_ja="変更後", command="make deploy")
    template.items.filter(position=2).delete()
    TemplateItemFactory(template=template, position=3, text_ja="追加項目")

    run.refresh_from_db()
    assert run.name_ja == "通常デプロイ"
    assert [(i.text_ja, i.command) for i in run.items.order_by("position")] == [
        ("事前チェック", "npm run build"),
        ("事後確認", ""),
    ]
    assert services.checklist_run_create(template=template).items.count() == 2
