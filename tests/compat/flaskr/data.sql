-- Two users, "test" and "other", whose passwords are their names.
INSERT INTO user (username, password)
VALUES
  ('test', 'pbkdf2:sha256:1000$XHmB21hzpcwe4irJ$1f3b0fc83549b96f1712bdcd028406441c838b70e69e51fdcf8cb1961b6c6f84'),
  ('other', 'pbkdf2:sha256:1000$PTR042YAz1MKdBMd$166b37e5abb4a7316029563ae30d5b89e25e828efba2f09fc7bf857d9f085a62');

INSERT INTO post (title, body, author_id, created)
VALUES
  ('test title', 'test' || x'0a' || 'body', 1, '2018-01-01 00:00:00');
