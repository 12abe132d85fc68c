"""The .lwl grammar (lwl.lark), installed as lwlc.grammar."""
