"""The Maven repository layout, as `mvn` and `gradle` use it."""
