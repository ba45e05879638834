from __future__ import annotations

import secrets

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

MAX_AVATAR_BYTES = 1024 * 1024
# Pillow format name -> file extension. Anything else (SVG, TIFF, BMP...) is refused.
AVATAR_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}


class ProfileForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False)
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False)
    # forms.ImageField opens the file with Pillow: a renamed text file is refused there.
    avatar = forms.ImageField(
        label=_("Avatar"),
        required=False,
        help_text=_("PNG, JPEG, GIF or WebP, up to 1 MiB."),
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}),
    )
    remove_avatar = forms.BooleanField(label=_("Remove my avatar"), required=False)
    # The language of the agent's pages (agents/middleware.py); each option in its own language.
    # Not required: a form sent without it keeps the one chosen before.
    language = forms.ChoiceField(
        label=_("Language"),
        choices=settings.LANGUAGES,
        required=False,
        help_text=_("The language of your pages. Until you choose, your browser’s."),
    )
    # While the tab is hidden (notifications.js, new-handoff-alert.js). Ticking the first asks
    # the browser's permission at once (a user gesture, as browsers require).
    browser_notifications = forms.BooleanField(
        label=_("Browser notifications"),
        required=False,
        help_text=_(
            "While this tab is hidden: new handoffs, and messages in your handoffs "
            "(when the inbox shows Assigned to me). Your browser asks you to allow them."
        ),
        widget=forms.CheckboxInput(attrs={"aria-describedby": "id_browser_notifications-help"}),
    )
    play_sound = forms.BooleanField(
        label=_("Play a sound"),
        required=False,
        help_text=_("A chime when a new handoff arrives while this tab is hidden."),
        widget=forms.CheckboxInput(attrs={"aria-describedby": "id_play_sound-help"}),
    )

    def clean_avatar(self) -> UploadedFile | None:
        avatar = self.cleaned_data.get("avatar")
        if not avatar:
            return None
        if avatar.size > MAX_AVATAR_BYTES:
            raise forms.ValidationError(_("The avatar must be 1 MiB or smaller."))
        image_format = getattr(getattr(avatar, "image", None), "format", None)
        if image_format not in AVATAR_FORMATS:
            raise forms.ValidationError(_("Upload a PNG, JPEG, GIF or WebP image."))
        # Never keep the uploader's file name: a random one with the real type's extension.
        avatar.name = f"{secrets.token_hex(8)}.{AVATAR_FORMATS[image_format]}"
        return avatar
