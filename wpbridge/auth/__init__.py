"""auth: sender authentication. DKIM keys and signing before relay (:mod:`.dkim`), and the
SPF, DKIM and DMARC checks that tell an admin which DNS record to add (:mod:`.dns_check`).
"""
