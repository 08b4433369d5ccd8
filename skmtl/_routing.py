"""Prefix-routed parameters, as skorch's: ``trunk__*`` to the trunk,
``optimizer__*`` to the optimizer, ...

An estimator takes them as keyword arguments beyond its signature, lists them
in ``get_params`` (so that ``clone`` and searches carry them) and checks their
names where they are written, in ``__init__`` and ``set_params``.
"""

import difflib

__all__ = ["MODULE_PREFIXES", "NET_PREFIXES", "PREFIXES", "RoutedParamsMixin"]

# To the network's modules: the trunk and every head.
MODULE_PREFIXES = ("trunk__", "head__")
# To the skorch net and its parts.
NET_PREFIXES = (
    "optimizer__",
    "iterator_train__",
    "iterator_valid__",
    "criterion__",
    "callbacks__",
    "compile__",
)
PREFIXES = MODULE_PREFIXES + NET_PREFIXES


class RoutedParamsMixin:
    """``get_params``, ``set_params`` and checks for prefix-routed parameters.

    The estimator's ``__init__`` stores its ``**kwargs`` with
    :meth:`_set_routed`. A name that is neither a parameter of the signature,
    nor a parameter of an object parameter (``loss_weighting__alpha``), nor
    routed by one of :data:`PREFIXES` is refused at once, with the closest
    valid names, as skorch's ``_validate_params`` does.
    """

    def get_params(self, deep=True):
        routed = {k: v for k, v in vars(self).items() if k.startswith(PREFIXES)}
        return {**super().get_params(deep=deep), **routed}

    def set_params(self, **params):
        named = self._get_param_names()

        def nested(key):
            # loss_weighting__alpha sets a parameter of a strategy object.
            owner = key.split("__")[0]
            return owner in named and hasattr(
                params.get(owner, getattr(self, owner)), "set_params"
            )

        routed = {k: params.pop(k) for k in list(params) if k not in named}
        self._set_routed({k: v for k, v in routed.items() if not nested(k)}, ValueError)
        params.update({k: v for k, v in routed.items() if nested(k)})
        return super().set_params(**params) if params else self

    def _set_routed(self, params, error=TypeError):
        unknown = [k for k in params if not k.startswith(PREFIXES)]
        if unknown:
            raise error(self._unknown_message(unknown))
        vars(self).update(params)

    def _unknown_message(self, unknown):
        names = sorted(self._get_param_names())
        hints = []
        for key in sorted(unknown):
            # iterator_train_shuffle: a routed name with one underscore.
            close = [
                p + key[len(p) - 1 :]
                for p in PREFIXES
                if key.startswith(p[:-1]) and not key.startswith(p)
            ]
            close = close or difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            hints.append(f"{key!r}{hint}")
        return (
            f"Invalid parameter {', '.join(hints)} for estimator "
            f"{type(self).__name__}. Valid parameters are {names}, and routed "
            f"ones starting with {', '.join(PREFIXES)}."
        )
