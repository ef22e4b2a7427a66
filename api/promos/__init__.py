"""Promo codes: an ISP's discounts, entered on the captive portal before an M-Pesa payment."""
