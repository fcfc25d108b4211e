"""The team inbox: listing conversations with filters, read state and saved views
(:mod:`allsang.inbox.listing`), and the changes people make to a conversation — assignment,
status, priority, department, tags, notes with @mentions, replies (:mod:`allsang.inbox.actions`).

Every function takes the caller's session and filters on the workspace id it is given; the
caller commits, then publishes a live hint (:func:`allsang.live.publish_conversations`).
"""
