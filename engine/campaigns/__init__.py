"""Campaigns (专项整治 rounds, inspection reports): registering them and reconciling their items (对账销号)."""
