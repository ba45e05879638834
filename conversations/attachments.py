"""Files sent with messages: what may be sent, how it is stored, how a link to it is signed,
and the headers it is served with.

An upload is judged by its name, never by the sender's word: its content type comes from its
extension (HITLNEXT_ATTACHMENT_TYPES lists what may be sent), a raster image must start like
one, and it is counted while it is read, so nothing past HITLNEXT_ATTACHMENT_MAX_BYTES is ever
kept (LimitedUploadHandler). Files go to the "attachments" storage (settings.STORAGES) under a
random name. A message names its files in `payload[ATTACHMENTS_KEY]` (id, name, type, size),
written only by the services, so every page renders them without a query.

Links: an agent's page links the plain URL (the agent's session is the key); events and the
web chat carry a signed, expiring one (TimestampSigner over the attachment id,
HITLNEXT_ATTACHMENT_URL_TTL).
"""

from __future__ import annotations

import logging
import mimetypes
import re
import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core import signing
from django.core.files.base import File
from django.core.files.storage import Storage, storages
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_noop, ngettext

from conversations.models import Attachment, Message

logger = logging.getLogger(__name__)

# Where a message keeps the list of its stored files; a bot's own payload key of that name is
# dropped on the way in (clean_external_payload), so only our services ever write it.
ATTACHMENTS_KEY = "hitlnext_attachments"
MAX_FILES_PER_MESSAGE = 5
NAME_MAX = 150
_SALT = "hitlnext.attachment"

# Raster images, the only files shown in the page and served inline, with how each starts.
INLINE_IMAGES: dict[str, tuple[bytes, ...]] = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
# Types a browser may run or render as a page: never served as themselves.
_ACTIVE = re.compile(r"html|xml|svg|javascript|ecmascript|script|xsl", re.IGNORECASE)
_EXTRA_TYPES = {
    ".webp": "image/webp",
    ".csv": "text/csv",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odp": "application/vnd.oasis.opendocument.presentation",
    ".svg": "image/svg+xml",
}


class AttachmentError(ValueError):
    """An upload that may not be stored; the message says why, for the sender."""


@dataclass(frozen=True)
class StoredFile:
    """A file written to storage, not yet attached to a message."""

    storage_name: str
    name: str
    content_type: str
    size: int


def attachment_storage() -> Storage:
    return storages["attachments"]


def max_bytes() -> int:
    return settings.HITLNEXT_ATTACHMENT_MAX_BYTES


def human_size(size: int) -> str:
    """The size as people read it, "512 bytes", "1.5 MB" ("1,5 Mo" in French), in the active
    language. Agents' pages write pushed sizes themselves, with the same words
    (static/hitlnext/js/units.js)."""
    if size < 1024:
        return ngettext("%(size)s byte", "%(size)s bytes", size) % {"size": size}
    value = size / 1024
    for unit in (gettext_noop("%(size)s KB"), gettext_noop("%(size)s MB")):
        if value < 1024:
            return gettext(unit) % {"size": number_format(value, 1)}
        value /= 1024
    return gettext("%(size)s GB") % {"size": number_format(value, 1)}


def clean_filename(raw: str) -> str:
    """A name safe to show and to put in a header: no path, no control or bidi characters,
    at most NAME_MAX characters with its extension kept."""
    name = unicodedata.normalize("NFC", str(raw)).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(
        c for c in name if unicodedata.category(c)[0] != "C" and c not in '"<>:|?*'
    ).strip(" .")
    if not name:
        name = "file"
    if len(name) > NAME_MAX:
        stem, dot, ext = name.rpartition(".")
        ext = f".{ext[:15]}" if dot and stem else ""
        name = name[: NAME_MAX - len(ext)].rstrip(" .") + ext
    return name


def extension_of(name: str) -> str:
    _, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot and ext else ""


def content_type_for(name: str) -> str:
    ext = extension_of(name)
    return _EXTRA_TYPES.get(ext) or mimetypes.types_map.get(ext) or "application/octet-stream"


def is_allowed(name: str, content_type: str) -> bool:
    allowed = settings.HITLNEXT_ATTACHMENT_TYPES
    return extension_of(name) in allowed or content_type in allowed


def describe_limits() -> str:
    kinds = ", ".join(t.lstrip(".") for t in settings.HITLNEXT_ATTACHMENT_TYPES)
    return gettext("Files up to %(size)s of these kinds: %(kinds)s.") % {
        "size": human_size(max_bytes()),
        "kinds": kinds,
    }


# Reasons no clean file name can be (it has no control characters).
_WHOLE_BODY = "\x00body"
_TOO_MANY = "\x00files"


class LimitedUploadHandler(FileUploadHandler):
    """Counts each uploaded file as it is read and stops the upload once one passes the
    limit: the rest of the body is read and thrown away, never kept (Django's own handlers,
    after this one, hold what came before)."""

    def __init__(self, request=None, *, limit: int | None = None) -> None:
        super().__init__(request)
        self.limit = max_bytes() if limit is None else limit
        self.too_large: str | None = None
        self._read = 0
        self._files = 0
        # A body announced larger than all the files may be (plus room for the form) is
        # refused before a byte of it is read: the view asks refusal() first.
        try:
            announced = int(request.META.get("CONTENT_LENGTH") or 0) if request else 0
        except ValueError:
            announced = 0
        if announced > (self.limit + 64 * 1024) * MAX_FILES_PER_MESSAGE:
            self.too_large = _WHOLE_BODY

    def new_file(self, field_name, file_name, *args, **kwargs) -> None:
        super().new_file(field_name, file_name, *args, **kwargs)
        self._read = 0
        self._files += 1
        if self._files > MAX_FILES_PER_MESSAGE:
            self.too_large = _TOO_MANY
            raise StopUpload(connection_reset=False)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self._read += len(raw_data)
        if self._read > self.limit:
            self.too_large = clean_filename(self.file_name or "file")
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None

    def refusal(self) -> str | None:
        if self.too_large is None:
            return None
        if self.too_large == _TOO_MANY:
            return too_many_files()
        if self.too_large == _WHOLE_BODY:
            return gettext("The upload is too large: files may be at most %(size)s.") % {
                "size": human_size(max_bytes())
            }
        return too_large(self.too_large)


def too_many_files() -> str:
    return gettext("Attach at most %(count)s files to one message.") % {
        "count": MAX_FILES_PER_MESSAGE
    }


def too_large(name: str) -> str:
    return gettext("“%(name)s” is too large: files may be at most %(size)s.") % {
        "name": name,
        "size": human_size(max_bytes()),
    }


def limit_uploads(request) -> LimitedUploadHandler:
    """Put the size guard in front of the request's upload handlers: call before anything
    reads request.POST or request.FILES (so in a csrf_exempt view, as Django documents)."""
    guard = LimitedUploadHandler(request)
    request.upload_handlers = [guard, *request.upload_handlers]
    return guard


def check_upload(upload: UploadedFile) -> tuple[str, str]:
    """(clean name, content type) of an upload that may be stored, else AttachmentError."""
    name = clean_filename(upload.name or "file")
    content_type = content_type_for(name)
    if not is_allowed(name, content_type):
        ext = extension_of(name)
        if ext:
            refused = gettext("“%(name)s” cannot be sent: files %(extension)s are not allowed.")
        else:
            refused = gettext(
                "“%(name)s” cannot be sent: files without an extension are not allowed."
            )
        refused %= {"name": name, "extension": ext}
        raise AttachmentError(f"{refused} {describe_limits()}")
    if upload.size is not None and upload.size > max_bytes():
        raise AttachmentError(too_large(name))
    if not upload.size:
        raise AttachmentError(gettext("“%(name)s” is empty.") % {"name": name})
    magic = INLINE_IMAGES.get(content_type)
    if magic is not None:
        upload.seek(0)
        head = upload.read(16)
        upload.seek(0)
        if not head.startswith(magic) or (content_type == "image/webp" and head[8:12] != b"WEBP"):
            raise AttachmentError(
                gettext("“%(name)s” is not a valid %(format)s image.")
                % {"name": name, "format": content_type.split("/")[1]}
            )
    return name, content_type


def store_uploads(uploads: Sequence[UploadedFile]) -> list[StoredFile]:
    """Check every upload, then write them to storage. Nothing is written unless all pass;
    the caller attaches them in its transaction, or discards them (discard_files)."""
    if len(uploads) > MAX_FILES_PER_MESSAGE:
        raise AttachmentError(too_many_files())
    checked = [(upload, *check_upload(upload)) for upload in uploads]
    storage = attachment_storage()
    stored: list[StoredFile] = []
    try:
        for upload, name, content_type in checked:
            upload.seek(0)
            # A random name: nothing the sender chose reaches the storage's paths.
            target = f"attachments/{timezone.now():%Y/%m}/{uuid.uuid4().hex}{extension_of(name)}"
            saved = storage.save(target, File(upload, name=target))
            stored.append(
                StoredFile(
                    storage_name=saved, name=name, content_type=content_type, size=upload.size or 0
                )
            )
    except Exception:
        discard_files(stored)
        raise
    return stored


def discard_files(files: Iterable[StoredFile]) -> None:
    storage = attachment_storage()
    for stored in files:
        storage.delete(stored.storage_name)


def remove_files_with(messages: QuerySet[Message]) -> None:
    """The files of messages about to be deleted go too, once the deletion commits (the rows
    go with the messages, by cascade)."""
    names = list(
        Attachment.objects.filter(message__in=messages).values_list("storage_name", flat=True)
    )
    if names:
        transaction.on_commit(partial(_delete_names, names))


def _delete_names(names: list[str]) -> None:
    storage = attachment_storage()
    for name in names:
        try:
            storage.delete(name)
        except OSError:
            logger.warning("could not delete attachment file %s", name)


def attach_files(message: Message, files: Sequence[StoredFile]) -> list[Attachment]:
    """The rows of a message's files, and their list in its payload (inside the caller's
    transaction)."""
    if not files:
        return []
    rows = Attachment.objects.bulk_create(
        [
            Attachment(
                message=message,
                storage_name=f.storage_name,
                name=f.name,
                content_type=f.content_type,
                size=f.size,
            )
            for f in files
        ]
    )
    if any(row.pk is None for row in rows):  # backends that return no ids (none used here)
        rows = list(message.attachments.order_by("id"))
    message.payload = {
        **(message.payload or {}),
        ATTACHMENTS_KEY: [
            {"id": row.pk, "name": row.name, "content_type": row.content_type, "size": row.size}
            for row in rows
        ],
    }
    Message.objects.filter(pk=message.pk).update(payload=message.payload)
    return rows


def clean_external_payload(payload: dict | None) -> dict:
    """A payload from outside (a bot): our own key is ours alone."""
    if not isinstance(payload, dict):
        return {}
    return {k: v for k, v in payload.items() if k != ATTACHMENTS_KEY}


def message_files(payload: object) -> list[dict]:
    """The files a message carries (id, name, content_type, size), from its payload."""
    if not isinstance(payload, dict):
        return []
    items = payload.get(ATTACHMENTS_KEY)
    if not isinstance(items, list):
        return []
    return [i for i in items if isinstance(i, dict) and isinstance(i.get("id"), int)]


def safe_web_url(value: object) -> str:
    """`value` when it is an http(s) address a page may link to, else "" (javascript:, data:,
    relative or malformed addresses are never linked)."""
    if not isinstance(value, str) or len(value) > 2048:
        return ""
    if any(ord(c) <= 32 or ord(c) == 127 for c in value):
        return ""
    try:
        parts = urlsplit(value)
    except ValueError:
        return ""
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return ""
    return value


@dataclass(frozen=True)
class Media:
    """One file or picture of a message, as a page shows it."""

    kind: str  # "image" (a thumbnail opening the picture) or "file" (a download link)
    name: str
    url: str  # "" when there is no address a page may link to
    size: int | None
    content_type: str = ""

    @property
    def size_text(self) -> str:
        return human_size(self.size) if self.size is not None else ""

    @property
    def thumbnail(self) -> bool:
        """Shown as a picture in the page: our own files, or https (the page's CSP allows
        no plain-http image)."""
        return self.kind == "image" and (
            self.url.startswith("/") or self.url.lower().startswith("https:")
        )


def message_media(payload: object, *, signed: bool = False) -> list[Media]:
    """What a message's payload shows: its stored files (links for an agent's session, or
    signed ones for the web chat visitor), or a bot's image/file payload."""
    files = message_files(payload)
    if files:
        return [_stored_media(f, signed=signed) for f in files]
    if not isinstance(payload, dict) or payload.get("type") not in ("image", "file"):
        return []
    url = safe_web_url(payload.get("url"))
    raw_name = payload.get("name") or payload.get("title") or ""
    name = clean_filename(raw_name) if isinstance(raw_name, str) and raw_name else ""
    if not name:
        name = url.rsplit("/", 1)[-1][:NAME_MAX] if url else "file"
    size = payload.get("size")
    return [
        Media(
            kind=str(payload["type"]),
            name=name or "file",
            url=url,
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            content_type=str(payload.get("content_type") or "")[:100],
        )
    ]


def _stored_media(item: dict, *, signed: bool) -> Media:
    size = item.get("size")
    return Media(
        kind="image" if item.get("content_type") in INLINE_IMAGES else "file",
        name=str(item.get("name") or "file"),
        url=signed_path(item["id"]) if signed else attachment_path(item["id"]),
        size=size if isinstance(size, int) else None,
        content_type=str(item.get("content_type") or ""),
    )


# --- Links --------------------------------------------------------------------------------------


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SALT)


def sign(attachment_id: int) -> str:
    return _signer().sign(str(attachment_id))


def signature_valid(attachment_id: int, token: str) -> bool:
    """True for a token made by sign() for this very attachment, within its lifetime."""
    if not token or len(token) > 200:
        return False
    try:
        value = _signer().unsign(token, max_age=settings.HITLNEXT_ATTACHMENT_URL_TTL)
    except signing.BadSignature:
        return False
    return value == str(attachment_id)


def attachment_path(attachment_id: int) -> str:
    """The plain link: an agent's session opens it."""
    return reverse("attachment", args=[attachment_id])


def signed_path(attachment_id: int) -> str:
    """A link anyone holding it may open, until HITLNEXT_ATTACHMENT_URL_TTL has passed."""
    return f"{attachment_path(attachment_id)}?{urlencode({'s': sign(attachment_id)})}"


# --- Serving ------------------------------------------------------------------------------------


def serving_headers(*, name: str, content_type: str) -> tuple[str, bool, dict[str, str]]:
    """(Content-Type, whether it is a download, other headers) to serve a stored file with.

    Raster images are shown inline; everything else is a download. Nothing a browser could
    run as a page (HTML, SVG, XML, scripts) goes out as its own type, whatever was stored, and
    a sandbox CSP takes scripts away from whatever is shown anyway.
    """
    inline = content_type in INLINE_IMAGES and content_type_for(name) == content_type
    if not inline and (_ACTIVE.search(content_type) or _ACTIVE.search(content_type_for(name))):
        content_type = "application/octet-stream"
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "X-Frame-Options": "DENY",
        "Cache-Control": "private, no-store",
        "Referrer-Policy": "no-referrer",
    }
    return content_type, not inline, headers
