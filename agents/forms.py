from __future__ import annotations

import secrets

from django import forms
from django.core.files.uploadedfile import UploadedFile

MAX_AVATAR_BYTES = 1024 * 1024
# Pillow format name -> file extension. Anything else (SVG, TIFF, BMP...) is refused.
AVATAR_FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp"}


class ProfileForm(forms.Form):
    first_name = forms.CharField(label="First name", max_length=150, required=False)
    last_name = forms.CharField(label="Last name", max_length=150, required=False)
    # forms.ImageField opens the file with Pillow: a renamed text file is refused there.
    avatar = forms.ImageField(
        label="Avatar",
        required=False,
        help_text="PNG, JPEG, GIF or WebP, up to 1 MiB.",
        widget=forms.FileInput(attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}),
    )
    remove_avatar = forms.BooleanField(label="Remove my avatar", required=False)

    def clean_avatar(self) -> UploadedFile | None:
        avatar = self.cleaned_data.get("avatar")
        if not avatar:
            return None
        if avatar.size > MAX_AVATAR_BYTES:
            raise forms.ValidationError("The avatar must be 1 MiB or smaller.")
        image_format = getattr(getattr(avatar, "image", None), "format", None)
        if image_format not in AVATAR_FORMATS:
            raise forms.ValidationError("Upload a PNG, JPEG, GIF or WebP image.")
        # Never keep the uploader's file name: a random one with the real type's extension.
        avatar.name = f"{secrets.token_hex(8)}.{AVATAR_FORMATS[image_format]}"
        return avatar
