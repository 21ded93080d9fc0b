"""Static files as production serves them: compressed, with hashed names for long caching."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFiles(CompressedManifestStaticFilesStorage):
    """A file missing from collectstatic's manifest keeps its plain name.

    Django's manifest storage fails the whole page (a 500) over one file not collected, before
    the first `collectstatic` or after a release that forgot it; the page is worth more than
    its stylesheet."""

    manifest_strict = False

    def hashed_name(self, name, content=None, filename=None):
        try:
            return super().hashed_name(name, content, filename)
        except ValueError:  # not collected: there is nothing to hash
            return name
