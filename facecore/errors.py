"""Errors raised while reading photos and finding faces."""


class ImageError(ValueError):
    """A photo could not be used; `reason` is a short machine-readable word."""

    reason = "unreadable"


class UndecodableImage(ImageError):
    """The bytes are not an image any supported decoder understands."""

    reason = "undecodable"


class UnsupportedImageType(ImageError):
    """The bytes are an image, but of a format this system does not accept."""

    reason = "unsupported_type"


class ImageTooLarge(ImageError):
    """The image header announces more pixels than allowed (decompression bomb guard)."""

    reason = "too_many_pixels"
