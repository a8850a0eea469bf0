"""Loading what a setting names as ``"package.module:attribute"``."""

import importlib

from foundation.errors import ConfigurationError


def import_attribute(path: str, variable: str) -> object:
    """The object ``path`` (``"package.module:attribute"``, dots allowed in the attribute) names.

    Raises ``ConfigurationError`` naming ``variable`` (the setting, e.g. ``TIDINGS_RESOLVERS``)
    when the path is malformed, the module cannot be imported or the attribute is missing.
    """
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"{variable}: expected 'module:attribute', got {path!r}")
    try:
        target: object = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigurationError(
            f"{variable}: cannot import module {module_name!r}: {error}"
        ) from error
    for name in attribute.split("."):
        try:
            target = getattr(target, name)
        except AttributeError:
            raise ConfigurationError(
                f"{variable}: {module_name!r} has no attribute {attribute!r}"
            ) from None
    return target
