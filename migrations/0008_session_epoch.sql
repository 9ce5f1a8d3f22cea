-- Each session remembers the user's session epoch it was opened under: the insert is conditional on
-- that epoch still being current and refresh refuses a session left behind by an epoch bump, so a
-- sign-in that races a password reset cannot outlive the reset. Sessions opened before this column
-- existed carry 0: a user whose epoch was ever bumped (a reset) signs in once more, which is the safe
-- side, since a session that raced an earlier reset cannot be told apart from one that did not.
ALTER TABLE `sessions` ADD `epoch` integer DEFAULT 0 NOT NULL;
