"""Contacts: vCard files in and out of address books, and the people directory that
pickers ask (RFC 6350 vCards stored in RFC 6352 address book collections)."""
