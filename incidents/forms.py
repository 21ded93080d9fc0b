from django import forms
from django.utils.translation import gettext_lazy as _


class DismissForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea, max_length=5000)
