"""The service's listener hook: told what a use-case did, for ``wxlogin dev``'s ``/demo``.

``LoginService.listener``, ``AvatarService.listener`` and ``MessageService.listener`` are
``None`` unless ``wxlogin dev`` sets them, so ``wxlogin serve`` pays one ``is not None``
check per use-case and nothing else.

A listener is called on the event loop, after the use-case has done its work, and must
return at once without raising. It is handed ids, outcomes, counts and the user's own
profile values — never a token, a code, a session_key or a secret.

Events (name → fields):

* ``login`` → ``user_id``, ``new_user``, ``identities`` (how many mini-program identities the
  user now has: more than one means linked by unionid), ``unionid`` (bool), ``expires_in``
* ``refresh`` → ``outcome`` (``rotated``, ``replayed``, ``reused``, ``revoked``, ``expired``,
  ``unknown``): told before a refused refresh raises
* ``logout`` → ``user_id``
* ``phone_bound`` → ``user_id``, ``phone``
* ``profile_updated`` → ``user_id``, ``fields`` (the names that were set)
* ``avatar_replaced`` → ``user_id``, ``media_type``, ``size``
* ``message_sent`` (``MessageService.listener``) → ``user_id``, ``template_id``,
  ``outcome`` (``sent``, ``refused``, ``invalid``, ``unknown``, ``unsent``), ``errcode``
  (WeChat's, 0 when it did not refuse), ``field`` (the keyword at fault, or ""): never a
  value of the message
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

__all__ = ["ServiceListener"]

ServiceListener = Callable[[str, Mapping[str, object]], None]
