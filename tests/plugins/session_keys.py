"""Fixed session key secrets for tests.

Tests used to draw these with ``secrets.token_urlsafe``, which made their outcome a draw as
well: the settings' placeholder check looks at the text of a key, so a test passed or failed
with the letters it happened to get. Fixed inputs make every run the same run.
"""

from __future__ import annotations

#: base64url of 32 random bytes each (drawn once, then written down).
SECRET_1 = "tJ8B4wdc_JWFupTanjj7ezRkSu1vQ76r8RxHC_puVtU"
SECRET_2 = "lo0Ij6A7f9XJOk3D8m24ivL_xH70X-0C4TkkOXkFARw"
SECRET_3 = "z567Pxh2iugjH7ZYDgnnKYhRiew-Jf10HdwFMN5RF7w"
SECRET_4 = "j9evXmiENl2bzO1vOBlRk5qCfAKXbHrIsArihUCqkFI"
#: base64url of 48 random bytes.
SECRET_48 = "grcY6YQry1XkYg862UeWUBunFYEQs5_l3rugbHT5AwZjltF2eRG6Fulw5phzLqNa"
#: base64url of 16 bytes (too short), with 18 distinct characters so that it is refused for
#: its length and not as a placeholder.
SECRET_16 = "5tzZkuqglGEQCCGNHmCdpg"
