from django.db import models


class Order(models.Model):
    reference = models.CharField(max_length=40)

    class Meta:
        permissions = [("ship_order", "Can ship orders")]


class Invoice(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE)
    amount_cents = models.IntegerField()
