"""Keys of the SillyTavern bookkeeping a message row keeps in its ``st`` column.

:mod:`app.storage.st_chats` writes and reads it; the chat repository keeps the copy of
``extra`` inside ``swipe_info`` in step when Parlor changes a message's ``extra``, as
SillyTavern's ``syncMesToSwipe`` does.
"""

from __future__ import annotations

#: The row's own ``swipe_info`` item (``{send_date, gen_started, gen_finished, extra}``).
SWIPE_INFO = "swipe_info"
#: The shown row's ST message object (keys Parlor owns left out).
ST_MESSAGE = "message"
