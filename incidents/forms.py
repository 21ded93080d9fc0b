from django import forms
from django.utils.translation import gettext_lazy as _

from .models import TimelineEvent


class DismissForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea, max_length=5000)


class NoteForm(forms.ModelForm):
    class Meta:
        model = TimelineEvent
        fields = ["message"]
        labels = {"message": _("Add a note")}
        widgets = {"message": forms.Textarea(attrs={"rows": 3})}
