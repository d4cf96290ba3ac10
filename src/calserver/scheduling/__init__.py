"""Meetings: RFC 6638 implicit scheduling, iMIP e-mail (RFC 6047), answer links, the
schedule inbox and outbox, pending invitations."""
