"""Django's user admin with the person's notice language and chat accounts beside it."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User

from config.admin import save_formset_through_services

from .models import ChatIdentity, Profile


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    fields = ["language"]


class ChatIdentityInline(admin.TabularInline):
    """The chat accounts whose commands act as this person."""

    model = ChatIdentity
    extra = 0
    fields = ["provider", "workspace", "external_id", "created_at"]
    readonly_fields = ["created_at"]


admin.site.unregister(User)


@admin.register(User)
class PersonAdmin(UserAdmin):
    inlines = [*UserAdmin.inlines, ProfileInline, ChatIdentityInline]

    def save_formset(self, request, form, formset, change):
        if formset.model is ChatIdentity:
            save_formset_through_services(formset, actor=request.user)
        else:
            super().save_formset(request, form, formset, change)
